"""AGILab executor ``{{ cookiecutter.name }}``: {{ cookiecutter.description }}"""
