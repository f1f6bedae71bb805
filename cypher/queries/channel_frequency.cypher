// name: channel_frequency
// question: In each layer, how often does each channel appear in a class's circuits, and how strongly (from the class summaries)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.0): smallest share of the class's circuits that keep the channel
// param: limit (int, default 500): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: layer, cid, images, fraction, mean_activation
MATCH (t:AggTotal)
WHERE t.class = $cls AND t.kind = $kind
WITH CASE WHEN $include_unrecognised THEN t.n_all ELSE t.n END AS total
WHERE total > 0
MATCH (k:Class)-[g:CLASS_CHANNEL]->(ch:Channel)
WHERE k.name = $cls AND g.kind = $kind
WITH total, ch.layer AS layer, ch.cid AS cid, CASE WHEN $include_unrecognised THEN g.n_all ELSE g.n END AS n,
     CASE WHEN $include_unrecognised THEN g.sum_a_all ELSE g.sum_a END AS sum_a
WHERE n > 0 AND n >= $min_fraction * total
RETURN layer, cid, n AS images, 1.0 * n / total AS fraction, sum_a / n AS mean_activation
ORDER BY layer, images DESC, cid
LIMIT $limit
