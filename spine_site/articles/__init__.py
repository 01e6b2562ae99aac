"""Articles: the patient-education pages. Markdown with front matter rendered to a page's
parts through an HTML allow-list (`render`), what editors do (revisions, review, publish,
restore: `editorial`, committed a step at a time by `article_desk`), a revision as readers
would see it (`preview`), Markdown files in and out (`files`), each worker's copy of the
published articles (`live`), and uploaded images (`images`)."""
