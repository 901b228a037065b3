"""AGILab page ``maps``: a run's flight tracks on an offline, self-contained map (one HTML file)."""
