"""What the explorer draws, as pure functions: query rows and circuits in, pages and files out.

`graphs`: circuit graphs as vis-network pages (layout, styling, HTML). `tables`: tables, chart rows, the
numbers beside an image, and downloads. Nothing here imports Streamlit or opens a store, so every
function is tested on plain data; explorer/app.py lays their results out.
"""
