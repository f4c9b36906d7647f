"""conrt.shaders"""
