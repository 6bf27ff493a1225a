"""The web page of `autogpt ui`: a Starlette app (`app.create_app`) over the run store.

`app` routes, `guard` checks every request, `live` drives runs started from the page, `approver` asks
there before side effects, `stream` turns a run's log into server-sent events, `views` and `display`
make what the page shows (escaped, neutralised, highlighted). `static/` is the page itself: HTML, CSS and
plain JavaScript, served from the package (no build step, nothing from the network).
"""
