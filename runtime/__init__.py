"""conrt.runtime"""
