"""Building and scoring science modules on simulated data: training sets with truth labels,
classifier training, detector and flagger evaluation, module sample files.

The only part of ``udfs/`` that uses the simulator (``nenubroker.edge.sim``): the modules
themselves run on any spectra and never import it.
"""
