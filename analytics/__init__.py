"""Analytics: the hourly and daily summary of calls (kept exact by database triggers and a beat
job), the figures read from it, server-side SVG charts and the analytics page."""
