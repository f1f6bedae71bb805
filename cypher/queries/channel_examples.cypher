// name: channel_examples
// question: Which stored images make a channel peak highest (ties, e.g. at a ReLU6 ceiling, by its mean activation), with the input patch that drove it?
// param: cid (str): channel id, "layer#channel"
// param: model (str, default ""): model name; "" for every model
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: cls (str, default ""): only images of this class; "" for every class
// param: limit (int, default 16): most rows returned
// columns: image_id, class, model, peak, activation, peak_ratio, peak_row, peak_col, grid_h, grid_w, patch_jpeg
MATCH (a:Act)
WHERE a.cid = $cid AND a.kind = $kind AND ($model = '' OR a.model = $model) AND ($cls = '' OR a.class = $cls)
  AND a.patch_jpeg IS NOT NULL
RETURN a.image_id AS image_id, a.class AS class, a.model AS model, a.peak AS peak, a.activation AS activation,
       a.peak_ratio AS peak_ratio,
       a.peak_row AS peak_row, a.peak_col AS peak_col, a.grid_h AS grid_h, a.grid_w AS grid_w,
       a.patch_jpeg AS patch_jpeg
ORDER BY peak DESC, activation DESC, image_id
LIMIT $limit
