// name: frequent_pathways
// question: Which two-hop pathways (channel -> channel -> channel) recur in at least a fraction of a class's images (from the class summaries: its 1,000 most frequent among those held by 1% of its images or more)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.5): smallest share of the class's circuits that hold the pathway
// param: limit (int, default 100): most rows returned (at most 1,000: the summary keeps that many per class)
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: src, via, dst, images, fraction, mean_weight
MATCH (t:AggTotal)
WHERE t.class = $cls AND t.kind = $kind
WITH CASE WHEN $include_unrecognised THEN t.n_all ELSE t.n END AS total
WHERE total > 0
MATCH (k:Class)-[p:CLASS_PATH]->(s:Channel)
WHERE k.name = $cls AND p.kind = $kind AND p.n >= $min_fraction * total
  AND p.scope = CASE WHEN $include_unrecognised THEN 'all' ELSE 'recognised' END
RETURN s.cid AS src, p.via AS via, p.dst AS dst, p.n AS images, 1.0 * p.n / total AS fraction,
       p.sum_w / p.n AS mean_weight
ORDER BY images DESC, mean_weight DESC, src, via, dst
LIMIT $limit
