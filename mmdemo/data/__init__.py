"""Data: decoding user inputs (inputs.py) and the data sets the built-in models train on."""
