# E3 with the project's GatedDWExpert in place of the plain 3x3 expert.
_base_ = ['../../../configs/e3_lre_prior.py']

custom_imports = dict(
    imports=['featsel', 'projects.example_expert.example_expert'],
    allow_failed_imports=False)

model = dict(
    selector=dict(experts=[
        dict(type='GatedDWExpert', reduction=4),
        dict(type='DWConvExpert', kernel_size=3, dilation=2),
        dict(type='DWConvExpert', kernel_size=5),
        dict(type='IdentityExpert'),
    ]))
