// name: class_status
// question: How many of a class's images does the model rank the class 1st, 2nd-5th or lower on, and what is their status (kept, not kept, not recognised)?
// param: cls (str): class name
// columns: rank_band, status, images
MATCH (i:Image)
WHERE i.class = $cls
WITH coalesce(i.target_rank, 1) AS rank, coalesce(i.status, 'kept') AS status
WITH CASE WHEN rank = 1 THEN '1st' WHEN rank <= 5 THEN '2nd-5th' ELSE 'lower' END AS rank_band, status
RETURN rank_band, status, count(*) AS images
ORDER BY rank_band, status
