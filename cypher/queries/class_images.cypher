// name: class_images
// question: Which images belong to a class, most confident first, with the class's rank on each and the image's status?
// param: cls (str): class name
// param: limit (int, default 1000): most rows returned
// columns: image_id, path, predicted, confidence, agrees, target_rank, status
MATCH (i:Image)
WHERE i.class = $cls
RETURN i.id AS image_id, i.path AS path, i.predicted AS predicted, i.confidence AS confidence,
       i.agrees AS agrees, coalesce(i.target_rank, 1) AS target_rank, coalesce(i.status, 'kept') AS status
ORDER BY confidence DESC, image_id
LIMIT $limit
