"""What runs teach: the meta-learning predictor and recommender (``meta``), its evaluation report
(``metareport``), the paper's claims as statistical tests (``claims``), and tables and figures over stored runs
(``report``).
"""
