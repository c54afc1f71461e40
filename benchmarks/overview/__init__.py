"""`inkwell bench report`: runs or reuses every benchmark and writes one overview
(index.html + README.md + PNGs) under benchmarks/reports/<date>/."""
