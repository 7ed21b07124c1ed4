"""The simulator: NenuFAR beams with injected bursts and RFI, and the truth catalogue of what was
injected. A tool for tests, training and the demo; the telescope path (edge/) never imports it."""
