"""conrt.engine_bridge"""
