"""What can be tried: parameter types and spaces, with their encoding to the unit hypercube."""

from shoal.space._params import Categorical, ChoiceValue, Fixed, Float, Int, Param, param_from_dict
from shoal.space._space import Space

__all__ = ["Categorical", "ChoiceValue", "Fixed", "Float", "Int", "Param", "Space", "param_from_dict"]
