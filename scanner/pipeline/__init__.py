"""The scanning pipeline that ties the stages together: `engine.Scanner` (Item -> text -> rules -> learned
layer -> registry -> images -> verdict), the verdict and safe text (verdict) and what a scan answer may say
about the registry (disclosure).
"""
