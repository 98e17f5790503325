"""The LaTeX words the formula reader knows (shared by latex_in.py and its mixins)."""

_FUNCTIONS = {"tanh": "tanh", "sigma": "sigmoid", "phi": "phi", "varphi": "phi", "exp": "exp",
              "log": "log", "ln": "log"}
_NAMED_FUNCTIONS = {"softmax": "softmax", "tanh": "tanh", "sigmoid": "sigmoid", "exp": "exp",
                    "log": "log", "ReLU": "relu", "relu": "relu", "diag": "diag"}
_PRODUCT_OPS = {"cdot", "times", "ast"}
_TRANSPOSE = {"top", "intercal", "T"}
