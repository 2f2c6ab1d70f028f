// Uses only <evsam/evsam.hpp> from the installed package: prints l0's parameter count.
#include <evsam/evsam.hpp>

#include <iostream>

int main() {
    evsam::EfficientViTSam<double> model(evsam::sam_config("l0"));
    std::cout << evsam::count_parameters(evsam::state_dict_schema(model)) << "\n";
    return 0;
}
