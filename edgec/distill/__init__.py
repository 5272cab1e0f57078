"""edgec.distill"""
