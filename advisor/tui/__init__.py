"""The Textual front end of `advisor`: a questionnaire that ends in an explained recommendation.

`advisor.tui.app.run_tui()` opens it; `AdvisorApp` is the `App` subclass the tests drive.
"""
