// name: shared_edges
// question: Which edges are shared by at least a fraction of a class's images, and with what mean weight (scanning every circuit)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of the class's circuits that hold the edge
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, dst, images, fraction, mean_weight
MATCH (c:Circuit)
WHERE c.class = $cls AND c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH count(c) AS total
WHERE total > 0
MATCH (a:Act)-[f:FLOW]->(b:Act)
WHERE a.class = $cls AND a.kind = $kind AND (coalesce(a.recognised, true) OR $include_unrecognised)
WITH total, a.cid AS src, b.cid AS dst, count(*) AS n, avg(f.weight) AS mean_weight
WHERE n >= $min_fraction * total
RETURN src, dst, n AS images, 1.0 * n / total AS fraction, mean_weight
ORDER BY images DESC, mean_weight DESC, src, dst
LIMIT $limit
