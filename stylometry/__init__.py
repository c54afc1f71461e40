"""stylometry"""
