// name: distinctive_channels
// question: Which channels does a class keep in its circuits far more often than the rest of the store (scanning every circuit)?
// param: cls (str): class name
// param: kind (str, default "explanation"): circuit kind, original or explanation
// param: min_fraction (float, default 0.25): smallest share of the class's circuits that keep the channel
// param: prior (float, default 0.5): pseudo-count added to each cell of the in/out x held/not table
// param: limit (int, default 100): most rows returned
// param: include_unrecognised (bool, default false): also count the images whose class the model does not recognise (status "not recognised")
// columns: layer, cid, images, images_elsewhere, support, support_elsewhere, lift, log_odds, z, mean_activation
MATCH (c:Circuit)
WHERE c.kind = $kind AND (coalesce(c.recognised, true) OR $include_unrecognised)
WITH sum(CASE WHEN c.class = $cls THEN 1 ELSE 0 END) AS total_in, count(c) AS total
WHERE total_in > 0
MATCH (x:Act)
WHERE x.class = $cls AND x.kind = $kind AND (coalesce(x.recognised, true) OR $include_unrecognised)
WITH total_in, total, x.layer AS layer, x.cid AS cid, count(*) AS n_in, avg(x.activation) AS mean_activation
WHERE n_in >= $min_fraction * total_in
OPTIONAL MATCH (o:Act)
WHERE o.cid = cid AND o.kind = $kind AND o.class <> $cls AND (coalesce(o.recognised, true) OR $include_unrecognised)
WITH layer, cid, n_in, count(o) AS n_out, total_in, total - total_in AS total_out, mean_activation
WITH layer, cid, n_in, n_out, total_in, total_out, mean_activation,
     n_in + $prior AS a, total_in - n_in + $prior AS b, n_out + $prior AS c, total_out - n_out + $prior AS d
WITH layer, cid, n_in, n_out, total_in, total_out, mean_activation, a, b, c, d,
     2.302585092994046 * (log10(a / b) - log10(c / d)) AS log_odds
RETURN layer, cid, n_in AS images, n_out AS images_elsewhere, 1.0 * n_in / total_in AS support,
       CASE WHEN total_out > 0 THEN 1.0 * n_out / total_out ELSE 0.0 END AS support_elsewhere,
       (a / (a + b)) / (c / (c + d)) AS lift, log_odds,
       log_odds / sqrt(1.0 / a + 1.0 / b + 1.0 / c + 1.0 / d) AS z, mean_activation
ORDER BY round(log_odds, 9) DESC, images DESC, cid
LIMIT $limit
