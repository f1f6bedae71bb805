// name: similar_images
// question: Which images have circuits most like a given image's, by Jaccard overlap of their edge sets?
// param: image_id (str): image id (sha256 of the file's bytes)
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: limit (int, default 10): most rows returned
// columns: image_id, class, shared_edges, jaccard
MATCH (c0:Circuit)-[:HAS]->(a:Act)-[:FLOW]->(b:Act)
WHERE c0.image_id = $image_id AND c0.kind = $kind
WITH c0.n_edges AS n0, a.cid AS src, b.cid AS dst
MATCH (x:Act)-[:FLOW]->(y:Act)
WHERE x.cid = src AND y.cid = dst AND x.kind = $kind AND x.image_id <> $image_id
MATCH (c1:Circuit)-[:HAS]->(x)
WITH n0, c1.image_id AS image_id, c1.class AS class, c1.n_edges AS n1, count(*) AS shared
RETURN image_id, class, shared AS shared_edges, 1.0 * shared / (n0 + n1 - shared) AS jaccard
ORDER BY jaccard DESC, image_id
LIMIT $limit
