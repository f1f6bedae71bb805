// name: distinctive_edges
// question: Which edges does a class hold far more often than the rest of the store (scanning every circuit)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.25): smallest share of the class's circuits that hold the edge
// param: prior (float, default 0.5): pseudo-count added to each cell of the in/out x held/not table
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, dst, images, images_elsewhere, support, support_elsewhere, lift, log_odds, z, mean_weight
MATCH (c:Circuit)
WHERE c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH sum(CASE WHEN c.class = $cls THEN 1 ELSE 0 END) AS total_in, count(c) AS total
WHERE total_in > 0
MATCH (x:Act)-[f:FLOW]->(y:Act)
WHERE x.class = $cls AND x.kind = $kind AND (coalesce(x.recognised, true) OR $include_unrecognised)
WITH total_in, total, x.cid AS src, y.cid AS dst, count(*) AS n_in, avg(f.weight) AS mean_weight
WHERE n_in >= $min_fraction * total_in
OPTIONAL MATCH (p:Act)-[:FLOW]->(q:Act)
WHERE p.cid = src AND q.cid = dst AND p.kind = $kind AND p.class <> $cls AND (coalesce(p.recognised, true) OR $include_unrecognised)
WITH src, dst, n_in, count(p) AS n_out, total_in, total - total_in AS total_out, mean_weight
WITH src, dst, n_in, n_out, total_in, total_out, mean_weight,
     n_in + $prior AS a, total_in - n_in + $prior AS b, n_out + $prior AS c, total_out - n_out + $prior AS d
WITH src, dst, n_in, n_out, total_in, total_out, mean_weight, a, b, c, d,
     2.302585092994046 * (log10(a / b) - log10(c / d)) AS log_odds
RETURN src, dst, n_in AS images, n_out AS images_elsewhere, 1.0 * n_in / total_in AS support,
       CASE WHEN total_out > 0 THEN 1.0 * n_out / total_out ELSE 0.0 END AS support_elsewhere,
       (a / (a + b)) / (c / (c + d)) AS lift, log_odds,
       log_odds / sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d) AS z, mean_weight
ORDER BY round(log_odds, 9) DESC, images DESC, src, dst
LIMIT $limit
