// name: channel_images
// question: Which images use a given channel, strongest activation first?
// param: cid (str): channel id, "layer#channel"
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: limit (int, default 50): most rows returned
// columns: image_id, class, path, activation, rank
MATCH (i:Image)-[:HAS_CIRCUIT]->(c:Circuit)-[:HAS]->(a:Act)
WHERE a.cid = $cid AND a.kind = $kind
RETURN i.id AS image_id, i.class AS class, i.path AS path, a.activation AS activation, a.rank AS rank
ORDER BY activation DESC, image_id
LIMIT $limit
