// name: compare_classes
// question: Which edges are frequent in one class and rare in another (from the class summaries)?
// param: cls_a (str): the class whose frequent edges are wanted
// param: cls_b (str): the class in which those edges must be rare
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of cls_a's circuits that hold the edge
// param: max_fraction (float, default 0.1): largest share of cls_b's circuits that may hold it
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, dst, images_a, images_b, fraction_a, fraction_b, mean_weight_a
MATCH (t:AggTotal)
WHERE t.kind = $kind AND (t.class = $cls_a OR t.class = $cls_b)
WITH sum(CASE WHEN t.class = $cls_a THEN CASE WHEN $include_unrecognised THEN t.n_all ELSE t.n END ELSE 0 END) AS total_a,
     sum(CASE WHEN t.class = $cls_b THEN CASE WHEN $include_unrecognised THEN t.n_all ELSE t.n END ELSE 0 END) AS total_b
WHERE total_a > 0 AND total_b > 0
MATCH (k:Class)-[g:CLASS_EDGE]->(s:Channel)
WHERE k.name = $cls_a AND g.kind = $kind
WITH total_a, total_b, s, g.dst AS dst, CASE WHEN $include_unrecognised THEN g.n_all ELSE g.n END AS n_a,
     CASE WHEN $include_unrecognised THEN g.sum_w_all ELSE g.sum_w END AS sum_w
WHERE n_a > 0 AND n_a >= $min_fraction * total_a
OPTIONAL MATCH (o:Class)-[h:CLASS_EDGE]->(s)
WHERE o.name = $cls_b AND h.kind = $kind AND h.dst = dst
WITH total_a, total_b, s.cid AS src, dst, n_a, sum_w / n_a AS mean_weight_a,
     coalesce(sum(CASE WHEN $include_unrecognised THEN h.n_all ELSE h.n END), 0) AS n_b
WHERE n_b <= $max_fraction * total_b
RETURN src, dst, n_a AS images_a, n_b AS images_b, 1.0 * n_a / total_a AS fraction_a,
       1.0 * n_b / total_b AS fraction_b, mean_weight_a
ORDER BY fraction_a - fraction_b DESC, mean_weight_a DESC, src, dst
LIMIT $limit
