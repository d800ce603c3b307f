"""Tests of the service-costs source: the finance and rates CSVs, Cost Explorer through moto's
server over HTTP, and the monthly asset on both databases."""
