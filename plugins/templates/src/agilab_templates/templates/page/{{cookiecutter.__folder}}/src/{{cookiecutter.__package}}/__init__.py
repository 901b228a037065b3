"""AGILab page ``{{ cookiecutter.name }}``: {{ cookiecutter.description }}"""
