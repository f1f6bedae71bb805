// name: shared_edges
// question: Which edges are shared by at least a fraction of a class's images, and with what mean weight (from the class summaries)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of the class's circuits that hold the edge
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, dst, images, fraction, mean_weight
MATCH (t:AggTotal)
WHERE t.class = $cls AND t.kind = $kind
WITH CASE WHEN $include_unrecognised THEN t.n_all ELSE t.n END AS total
WHERE total > 0
MATCH (k:Class)-[g:CLASS_EDGE]->(s:Channel)
WHERE k.name = $cls AND g.kind = $kind
WITH total, s.cid AS src, g.dst AS dst, CASE WHEN $include_unrecognised THEN g.n_all ELSE g.n END AS n,
     CASE WHEN $include_unrecognised THEN g.sum_w_all ELSE g.sum_w END AS sum_w
WHERE n > 0 AND n >= $min_fraction * total
RETURN src, dst, n AS images, 1.0 * n / total AS fraction, sum_w / n AS mean_weight
ORDER BY images DESC, mean_weight DESC, src, dst
LIMIT $limit
