"""edgec.calibration"""
