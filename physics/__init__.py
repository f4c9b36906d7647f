"""conrt.physics"""
