// name: image_summary
// question: Which circuits does an image have, and with what model, config, layers, size and metrics?
// param: image_id (str): image id (sha256 of the file's bytes)
// columns: kind, model, config, layers, n_nodes, n_edges, mask_area, confidence, metrics
MATCH (c:Circuit)
WHERE c.image_id = $image_id
RETURN c.kind AS kind, c.model AS model, c.config AS config, c.layers AS layers, c.n_nodes AS n_nodes,
       c.n_edges AS n_edges, c.mask_area AS mask_area, c.confidence AS confidence, c.metrics AS metrics
ORDER BY kind
