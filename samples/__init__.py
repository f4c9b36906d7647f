"""conrt.samples"""
