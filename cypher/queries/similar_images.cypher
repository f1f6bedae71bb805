// name: similar_images
// question: Which images have circuits most like a given image's, by the weighted Jaccard of their channel sets (a channel held by df of n circuits weighs ln(n / df), so generic channels count little)?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: limit (int, default 10): most rows returned
// columns: image_id, class, shared_channels, similarity
MATCH (c:Circuit)
WHERE c.kind = $kind
WITH count(c) AS n
MATCH (a0:Act)
WHERE a0.image_id = $image_id AND a0.kind = $kind
MATCH (a:Act)
WHERE a.kind = $kind AND a.model = a0.model AND a.cid = a0.cid
WITH n, a0.model AS model, a0.cid AS cid, count(a) AS df
WITH n, sum(2.302585092994046 * log10(1.0 * n / df)) AS w0
MATCH (a:Act)
WHERE a.kind = $kind
WITH w0, n, a.model AS model, a.cid AS cid, count(a) AS df
WITH w0, model, cid, 2.302585092994046 * log10(1.0 * n / df) AS w
OPTIONAL MATCH (b:Act)
WHERE b.image_id = $image_id AND b.kind = $kind AND b.model = model AND b.cid = cid
WITH w0, model, cid, w, count(b) AS in0
MATCH (x:Act)
WHERE x.kind = $kind AND x.model = model AND x.cid = cid AND x.image_id <> $image_id
WITH w0, x.image_id AS image_id, x.class AS class, sum(w) AS total,
     sum(CASE WHEN in0 > 0 THEN w ELSE 0.0 END) AS shared, sum(CASE WHEN in0 > 0 THEN 1 ELSE 0 END) AS n_shared
WHERE n_shared > 0
RETURN image_id, class, n_shared AS shared_channels,
       CASE WHEN w0 + total - shared > 0 THEN shared / (w0 + total - shared) ELSE 0.0 END AS similarity
ORDER BY round(similarity, 9) DESC, image_id
LIMIT $limit
