"""The staff dashboard in the admin: an overview of all ads and a drill-down page per ad.

`forms` turns the query string into a range and an interval (with the API's range parser),
`data` gathers what a page shows through the selectors, `views` renders it as a page, as the
live part the page refreshes, or as CSV.
"""
