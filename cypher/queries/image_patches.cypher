// name: image_patches
// question: Where does each channel of one image's circuit peak, and which input patch drove it there?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// columns: cid, peak, peak_ratio, peak_row, peak_col, grid_h, grid_w, patch_jpeg
MATCH (c:Circuit)-[:HAS]->(a:Act)
WHERE c.image_id = $image_id AND c.kind = $kind AND a.grid_h IS NOT NULL
RETURN a.cid AS cid, a.peak AS peak, a.peak_ratio AS peak_ratio, a.peak_row AS peak_row, a.peak_col AS peak_col,
       a.grid_h AS grid_h, a.grid_w AS grid_w, a.patch_jpeg AS patch_jpeg
ORDER BY cid
