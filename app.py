"""Hugging Face Space entry point: the fkp demo (the code is in fkp/demo/; `fkp demo` runs the same).

python app.py                      # the shipped fast model (and the accurate one as an option), http://127.0.0.1:7860
FKP_MODEL=runs/fkp python app.py   # another model: 'accurate', a local folder or a Hub model id
"""

from fkp.demo import demo, launch  # noqa: F401 (Spaces may also serve `demo` directly)

if __name__ == "__main__":
    launch()
