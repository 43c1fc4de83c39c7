"""The NOC dashboard at ``/ui/``: plain HTML, CSS and JavaScript served by the hub (no build
step, no CDN). :mod:`.session` signs people in with their Atoll identity, :mod:`.fleet`
answers the fleet overview, :mod:`.events` streams live updates, :mod:`.routes` puts them
on the hub's app; everything else a page shows it reads from the API with the session."""
