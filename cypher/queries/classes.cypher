// name: classes
// question: Which classes does the store hold, with how many images each and how many the model agrees with?
// columns: class, class_index, images, agreeing
MATCH (i:Image)-[:OF_CLASS]->(k:Class)
RETURN k.name AS class, k.`index` AS class_index, count(i) AS images,
       sum(CASE WHEN i.agrees THEN 1 ELSE 0 END) AS agreeing
ORDER BY images DESC, class
