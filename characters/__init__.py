"""conrt.characters"""
