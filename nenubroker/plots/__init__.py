"""Quick-look plots people look at, one module per picture: ``spectra`` (dynamic spectra with the
simulator's truth, chunks with a module's candidates), ``cutout`` (an alert's cutout) and ``cube``
(an image cube), sharing ``figure`` (the Agg canvas, colour limits, saving). Matplotlib's object
API (no pyplot state), so they draw safely from any thread. Import the module you need: each pulls
in only its own dependencies (astropy for cubes, the simulator for truth outlines)."""
