"""edgec.compile"""
