// name: compare_classes
// question: Which edges are frequent in one class and rare in another (scanning every circuit)?
// param: cls_a (str): the class whose frequent edges are wanted
// param: cls_b (str): the class in which those edges must be rare
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of cls_a's circuits that hold the edge
// param: max_fraction (float, default 0.1): largest share of cls_b's circuits that may hold it
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, dst, images_a, images_b, fraction_a, fraction_b, mean_weight_a
MATCH (c:Circuit)
WHERE c.class = $cls_a AND c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH count(c) AS total_a
MATCH (d:Circuit)
WHERE d.class = $cls_b AND d.kind = $kind AND (coalesce(d.recognised, true) OR $include_unrecognised)
WITH total_a, count(d) AS total_b
WHERE total_a > 0 AND total_b > 0
MATCH (a:Act)-[f:FLOW]->(b:Act)
WHERE a.kind = $kind AND (a.class = $cls_a OR a.class = $cls_b) AND (coalesce(a.recognised, true) OR $include_unrecognised)
WITH total_a, total_b, a.cid AS src, b.cid AS dst,
     sum(CASE WHEN a.class = $cls_a THEN 1 ELSE 0 END) AS n_a,
     sum(CASE WHEN a.class = $cls_b THEN 1 ELSE 0 END) AS n_b,
     avg(CASE WHEN a.class = $cls_a THEN f.weight END) AS mean_weight_a
WHERE n_a > 0 AND n_a >= $min_fraction * total_a AND n_b <= $max_fraction * total_b
RETURN src, dst, n_a AS images_a, n_b AS images_b, 1.0 * n_a / total_a AS fraction_a,
       1.0 * n_b / total_b AS fraction_b, mean_weight_a
ORDER BY fraction_a - fraction_b DESC, mean_weight_a DESC, src, dst
LIMIT $limit
