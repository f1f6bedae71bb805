// name: consensus
// question: What is a class's consensus circuit, read from the aggregate cache (rebuild_aggregates after ingest)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of the class's circuits that hold the edge
// param: limit (int, default 200): most rows returned
// columns: src, dst, images, fraction, mean_weight
MATCH (c:Circuit)
WHERE c.class = $cls AND c.kind = $kind
WITH count(c) AS total
WHERE total > 0
MATCH (s:Channel)-[g:AGG]->(d:Channel)
WHERE g.class = $cls AND g.kind = $kind AND g.n >= $min_fraction * total
RETURN s.cid AS src, d.cid AS dst, g.n AS images, 1.0 * g.n / total AS fraction, g.sum_w / g.n AS mean_weight
ORDER BY images DESC, mean_weight DESC, src, dst
LIMIT $limit
