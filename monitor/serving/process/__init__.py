"""The processes of ``python -m serving``: the supervisor and its workers (``workers.py``), connections handed from
one to the other (``handover.py``), and answers that leave in one write (``writes.py``)."""
