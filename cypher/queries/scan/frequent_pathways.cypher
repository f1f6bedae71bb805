// name: frequent_pathways
// question: Which two-hop pathways (channel -> channel -> channel) recur in at least a fraction of a class's images (scanning every circuit)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of the class's circuits that hold the pathway
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, via, dst, images, fraction, mean_weight
MATCH (c:Circuit)
WHERE c.class = $cls AND c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH count(c) AS total
WHERE total > 0
MATCH (a:Act)-[f1:FLOW]->(b:Act)-[f2:FLOW]->(d:Act)
WHERE a.class = $cls AND a.kind = $kind AND (coalesce(a.recognised, true) OR $include_unrecognised)
WITH total, a.cid AS src, b.cid AS via, d.cid AS dst, count(*) AS n, avg(f1.weight * f2.weight) AS mean_weight
WHERE n >= $min_fraction * total
RETURN src, via, dst, n AS images, 1.0 * n / total AS fraction, mean_weight
ORDER BY images DESC, mean_weight DESC, src, via, dst
LIMIT $limit
